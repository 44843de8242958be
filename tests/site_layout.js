// The layout of the built site's pages as Chromium lays them out, measured
// from a harness page on the same server (tests/test_docs_site.py writes it
// with PAGES and WIDTHS): each page loads in an iframe of each width, and the
// results go, as JSON, into the harness's <pre id="result">, which
// `chromium --dump-dom` prints. For each page and width:
// - overflowing: elements of the article that stick out of the content
//   column without being inside a box that scrolls or clips them (a wide
//   table or equation scrolls within its own box: that is allowed);
// - page_overflow: how far the whole page scrolls sideways;
// - tables: how much of each table is hidden in its scrolling box, with the
//   id of the heading above it;
// - figures: the smallest text of each figure as shown, in CSS pixels, and
//   the width the figure is shown at.
//   make_figures.py draws text as outlines, each glyph at
//   scale(size / 100) in the SVG's own units (points), so its size on
//   screen is size * shown width / viewBox width;
// - word_break: the computed word-break of the article's text, and of a
//   link in a table (table_link_word_break, null without one);
// - code: each code block that scrolls sideways (how far, and the start of
//   its longest line), and code_columns: how many characters a line of a
//   code block holds without scrolling (null on a page without code).
async function measure(page, width) {
  const frame = document.createElement("iframe");
  frame.style.cssText = `width:${width}px;height:844px;border:0`;
  document.body.appendChild(frame);
  await new Promise((resolve) => {
    frame.onload = resolve;
    frame.src = page;
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // KaTeX
  const doc = frame.contentDocument;
  const win = frame.contentWindow;
  const article = doc.querySelector("article");
  // On a phone, Material lets tables and code blocks reach into the
  // article's margins, to the screen's edges: the column is the limit.
  const box = doc.querySelector(".md-content").getBoundingClientRect();
  const overflowing = [];
  for (const element of article.querySelectorAll("*")) {
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) continue;
    if (rect.right <= box.right + 1 && rect.left >= box.left - 1) continue;
    let parent = element.parentElement;
    let clipped = false;
    while (parent && parent !== article) {
      if (win.getComputedStyle(parent).overflowX !== "visible") {
        clipped = true;
        break;
      }
      parent = parent.parentElement;
    }
    if (!clipped) {
      overflowing.push(
        `${element.tagName.toLowerCase()}.${element.className} ` +
          `(${Math.round(rect.right - box.right)} px): ` +
          (element.textContent || "").trim().slice(0, 60),
      );
    }
  }
  const tables = [];
  let heading = "";
  for (const element of article.querySelectorAll("h1, h2, h3, h4, .md-typeset__scrollwrap")) {
    if (/^H\d$/.test(element.tagName)) heading = element.id;
    else tables.push({ heading, hidden: element.scrollWidth - element.clientWidth });
  }
  const figures = [];
  for (const image of article.querySelectorAll('img[src*=".svg"]')) {
    const rect = image.getBoundingClientRect();
    if (rect.width === 0) continue; // the other colour scheme's variant
    const svg = await (await fetch(image.src)).text();
    const viewBox = parseFloat(svg.match(/viewBox="0 0 ([\d.]+)/)[1]);
    const scales = [...svg.matchAll(/scale\((0\.\d+) -0\.\d+\)/g)].map((m) => parseFloat(m[1]));
    if (scales.length === 0) continue;
    figures.push({
      src: image.getAttribute("src"),
      text_px: (Math.min(...scales) * 100 * rect.width) / viewBox,
      width: rect.width,
    });
  }
  const code = [];
  let codeColumns = null;
  for (const block of article.querySelectorAll(".highlight pre > code")) {
    if (block.clientWidth === 0) continue;
    const hidden = block.scrollWidth - block.clientWidth;
    if (hidden > 0) {
      const lines = block.textContent.split("\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a));
      code.push({ hidden, line: `${longest.length} chars: ${longest.trim().slice(0, 50)}` });
    }
    if (codeColumns === null) {
      const style = win.getComputedStyle(block);
      const probe = doc.createElement("span");
      probe.textContent = "0".repeat(100);
      block.appendChild(probe);
      const charWidth = probe.getBoundingClientRect().width / 100;
      probe.remove();
      const inner =
        block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      codeColumns = Math.floor(inner / charWidth);
    }
  }
  const result = {
    page,
    width,
    overflowing,
    page_overflow: doc.documentElement.scrollWidth - win.innerWidth,
    tables,
    figures,
    code,
    code_columns: codeColumns,
    word_break: win.getComputedStyle(article).wordBreak,
    // Material sets word-break: normal on links in tables.
    table_link_word_break: (() => {
      const link = article.querySelector("table a");
      return link ? win.getComputedStyle(link).wordBreak : null;
    })(),
  };
  frame.remove();
  return result;
}

(async () => {
  const results = [];
  for (const width of WIDTHS) {
    for (const page of PAGES) results.push(await measure(page, width));
  }
  document.getElementById("result").textContent = JSON.stringify(results);
})();
