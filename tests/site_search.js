// Runs the built site's own search worker (Material for MkDocs) in Node, as
// the browser runs it in a Web Worker: set up with the site's index and
// language scripts, then one query per argument.
// Usage: node site_search.js SITE_DIR [--lang ko] QUERY...
// (--lang ko: the Korean site's index, SITE_DIR/ko/search/search_index.json).
// Prints JSON: {query: [[location of each document in a result group]]}.
const fs = require("fs");
const path = require("path");
const vm = require("vm");

let [site, ...queries] = process.argv.slice(2);
let root = site;
if (queries[0] === "--lang") {
  root = path.join(site, queries[1]);
  queries = queries.slice(2);
}
const workers = path.join(site, "assets", "javascripts", "workers");
const worker = fs.readdirSync(workers).find((f) => /^search\..*\.min\.js$/.test(f));
let handler = null;
const context = {
  console,
  setTimeout,
  addEventListener: (type, listener) => { if (type === "message") handler = listener; },
  postMessage: (message) => replies.push(message),
  importScripts: (...urls) => {
    for (const url of urls) {
      vm.runInContext(fs.readFileSync(path.join(workers, url), "utf8"), context);
    }
  },
};
context.self = context;
vm.createContext(context);
const replies = [];
vm.runInContext(fs.readFileSync(path.join(workers, worker), "utf8"), context);
const index = JSON.parse(
  fs.readFileSync(path.join(root, "search", "search_index.json"), "utf8")
);

async function send(message) {
  replies.length = 0;
  await handler({ data: message });
  for (let i = 0; i < 100 && replies.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return replies[0];
}

(async () => {
  // As the page sends it: the index, and the search features in use.
  await send({ type: 0, data: { ...index, options: { suggest: false } } });
  const found = {};
  for (const query of queries) {
    const reply = await send({ type: 2, data: query });
    found[query] = reply.data.items.map((group) => group.map((doc) => doc.location));
  }
  console.log(JSON.stringify(found));
})();
