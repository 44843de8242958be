"""What every keras_acts monitor shares: rows, files, TensorBoard, plots."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import tempfile
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import keras

from keras_acts import _validation, _warnings

if TYPE_CHECKING:
    import pandas


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to a temporary file beside `path`, then renames it over
    `path`, so a reader never sees a half-written file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "w", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# The CSV files that monitors in a fit are writing, by real path: two
# monitors appending rows to one file would interleave them.
_CSV_WRITERS: dict[str, weakref.ref] = {}


def missing_packages(*names: str) -> list[str]:
    """Those of the packages `names` that are not installed."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def require(what: str, *names: str, extra: str | None = None) -> None:
    """ImportError naming what needs the packages, the ones missing, and the
    command that installs them (or keras_acts's `extra` that has them), if
    any of `names` is not installed."""
    missing = missing_packages(*names)
    if missing:
        command = f"pip install {' '.join(missing)}"
        if extra is not None:
            command = f'pip install "keras-acts[{extra}]"'
        raise ImportError(f"{what} needs {' and '.join(missing)}: {command}")


def _csv_value(value: Any) -> Any:
    return "" if value is None else value


def _json_value(value: Any) -> Any:
    # JSON has no NaN or Infinity; a non-finite statistic is written as a string.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class Recorder(keras.callbacks.Callback):
    """Base of the monitors: records rows in long format and writes them out.

    A subclass defines `COLUMNS`, appends records with `_add_record(record)`
    and turns a record into rows (`_rows_of`) and TensorBoard values
    (`_scalars_of`, `_histograms_of`). Rows are built only when asked for, or
    when a CSV file or TensorBoard log is written as training goes, and each
    record's rows once.
    """

    COLUMNS: tuple[str, ...] = ()

    def __init__(
        self,
        log_dir: str | os.PathLike | None,
        csv_path: str | os.PathLike | None,
        append: bool,
    ) -> None:
        super().__init__()
        for name, path in (("log_dir", log_dir), ("csv_path", csv_path)):
            if path is not None and not isinstance(path, (str, os.PathLike)):
                raise ValueError(
                    f"`{name}` must be a path (a string or os.PathLike) or None. "
                    f"Received: {name}={path!r}"
                )
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.csv_path = None if csv_path is None else os.fspath(csv_path)
        self.append = _validation.boolean("append", append)
        self._training = False
        self._records: list[Any] = []
        self._rows: list[dict[str, Any]] = []
        self._rows_built = 0  # records whose rows are in self._rows
        self._writer = None

    # Subclass hooks.
    def _rows_of(self, record: Any) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _scalars_of(self, record: Any) -> Iterator[tuple[str, float]]:
        return iter(())

    def _histograms_of(self, record: Any) -> Iterator[tuple[str, Any]]:
        return iter(())

    def _sync(self) -> None:
        """Takes in the records that wait to be read, before the user reads
        any."""

    def _step_of(self, record: Any) -> int:
        raise NotImplementedError

    # Outputs.
    def _open_outputs(self) -> None:
        """Resets the records (unless `append`) and checks, before any step,
        that files can be written; raises ValueError naming the path
        otherwise."""
        if not self.append:
            self._records, self._rows, self._rows_built = [], [], 0
        self._close_writer()
        self._training = True
        if self.csv_path is not None:
            self._claim_csv()
            folder = os.path.dirname(os.path.abspath(self.csv_path))
            try:
                os.makedirs(folder, exist_ok=True)
                fresh = not (self.append and os.path.exists(self.csv_path))
                if not fresh:
                    self._check_csv_header()
                with open(self.csv_path, "w" if fresh else "a", newline="") as file:
                    if fresh or file.tell() == 0:
                        csv.writer(file).writerow(self.COLUMNS)
            except OSError as error:
                raise ValueError(
                    f"Cannot write csv_path={self.csv_path!r}: {error}"
                ) from error
        if self.log_dir is not None:
            # TensorFlow's summary writer writes the logs, on any backend.
            missing = missing_packages("tensorflow", "tensorboard")
            if missing:
                raise ValueError(
                    f"log_dir={self.log_dir!r} needs {' and '.join(missing)} "
                    f"(TensorBoard's summary writer): pip install "
                    f"{' '.join(missing)}"
                )
            try:
                os.makedirs(self.log_dir, exist_ok=True)
                with tempfile.TemporaryFile(dir=self.log_dir):
                    pass
            except OSError as error:
                raise ValueError(
                    f"Cannot write log_dir={self.log_dir!r}: {error}"
                ) from error
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)

    def _claim_csv(self) -> None:
        path = os.path.realpath(self.csv_path)
        owner = _CSV_WRITERS.get(path)
        other = None if owner is None else owner()
        if other is not None and other is not self and other._training:
            raise ValueError(
                f"`csv_path` is already being written by another monitor in this "
                f"fit ({type(other).__name__}); give each monitor its own file. "
                f"Received: csv_path={self.csv_path!r}"
            )
        _CSV_WRITERS[path] = weakref.ref(self)

    def _check_csv_header(self) -> None:
        with open(self.csv_path, newline="") as file:
            header = next(csv.reader(file), None)
        if header is not None and tuple(header) != self.COLUMNS:
            raise ValueError(
                f"`append=True` adds {self.__class__.__name__} rows to "
                f"csv_path={self.csv_path!r}, whose columns are others: "
                f"{header}. Expected: {list(self.COLUMNS)}"
            )

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._warn_outside_fit("evaluate")

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._warn_outside_fit("predict")

    def _warn_outside_fit(self, method: str) -> None:
        # fit's own validation runs evaluate with the same callbacks.
        if not self._training:
            _warnings.warn(
                f"{self.__class__.__name__} records training: it does nothing "
                f"in {method}(). Pass it to fit().",
                RuntimeWarning,
            )

    def _add_record(self, record: Any) -> None:
        self._records.append(record)
        try:
            if self.csv_path is not None:
                # Appended and closed at each record: a crash loses nothing
                # recorded before it.
                with open(self.csv_path, "a", newline="") as file:
                    self._write_csv_rows(file, self._rows_of(record))
            if self._writer is not None:
                self._write_tensorboard(record)
        except OSError as error:
            _warnings.warn(
                f"{self.__class__.__name__} could not write step "
                f"{self._step_of(record)}: {error}",
                RuntimeWarning,
            )

    def _write_tensorboard(self, record: Any) -> None:
        import tensorflow as tf

        with self._writer.as_default(step=self._step_of(record)):
            for tag, value in self._scalars_of(record):
                tf.summary.scalar(tag, value)
            for tag, values in self._histograms_of(record):
                tf.summary.histogram(tag, values)

    def _close_writer(self) -> None:
        self._training = False
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.flush()

    # What the user reads.
    @property
    def history(self) -> list[dict[str, Any]]:
        """Every row recorded in the last `fit` (or `attach` block), oldest
        first, as dicts keyed by `COLUMNS`.

        A new fit starts a new history, as Keras's `History` callback does;
        with `append=True` the rows of earlier fits are kept before it.
        """
        self._sync()
        for record in self._records[self._rows_built :]:
            self._rows.extend(self._rows_of(record))
        self._rows_built = len(self._records)
        return list(self._rows)

    def to_dataframe(self) -> pandas.DataFrame:
        """The history as a pandas DataFrame (pandas is optional).

        Raises:
            ImportError: If pandas is not installed.
        """
        require("to_dataframe()", "pandas")
        import pandas as pd

        return pd.DataFrame(self.history, columns=list(self.COLUMNS))

    def to_csv(self, path: str | os.PathLike) -> None:
        """Writes the history to a CSV file, atomically."""
        buffer = io.StringIO()
        csv.writer(buffer).writerow(self.COLUMNS)
        self._write_csv_rows(buffer, self.history)
        atomic_write_text(path, buffer.getvalue())

    def _write_csv_rows(self, file, rows: Iterator[dict[str, Any]]) -> None:
        writer = csv.writer(file)
        for row in rows:
            writer.writerow(_csv_value(row[c]) for c in self.COLUMNS)

    def to_json(self, path: str | os.PathLike) -> None:
        """Writes the history to a JSON file (a list of rows), atomically."""
        rows = [{k: _json_value(v) for k, v in row.items()} for row in self.history]
        atomic_write_text(path, json.dumps(rows, indent=1))
