"""Files on local disk or any fsspec filesystem become a stream of record batches.

Selected by ``source.type: file``::

    source:
      system: retail
      table: stores
      type: file
      file:
        path: s3://landing/retail/stores_{run_date:%Y%m%d}_*.csv.gz   # local path or any fsspec URL
        format: csv            # csv | tsv | json | jsonl | parquet; default from the extension
        delimiter: ";"         # csv/tsv only (tsv: tab)
        encoding: utf-8
        has_header: true
        json_path: data.items  # json only: dot path to the record list (numbers index lists)
        columns: [store_id, name]   # header-less csv/tsv: the names; otherwise: keep only these
        required: true         # no file: error (true) or an empty partition (false)
        allow_empty: false     # a file of 0 bytes or only blank lines: error (false) or no rows (true)
        on_bad_lines: error    # error | quarantine (malformed lines to _errors/)

How a run finds its files: ``{run_date}`` (ISO date), ``{run_date:%Y%m%d}`` (any strftime format) and the
same for ``{window_start}``/``{window_end}`` (ISO datetime when plain) are filled in for the partition
(``medallion_assets.templates``, the mechanism the ``file_arrival`` sensor reverses; any other ``{...}`` is
an error); then globs (``*``, ``?``, ``[..]``, ``**``) are listed with ``fs.glob``, a plain path must exist,
and a plain directory means the files directly in it. Files are read in path order. Files whose name starts
with ``_`` or ``.`` (``_SUCCESS``, ``_checksums.json``, ``.crc``) are never picked up by a glob or a
directory listing, nor are files inside such folders below the glob's fixed part; a file named exactly in
``path`` is read.

How each format lands (docs/file_extractor.md has the whole story):

- **csv/tsv**: every column as **text**, exactly as written (``"007"`` stays ``"007"``; an empty field is an
  empty string), through Arrow's streaming reader; ``columns`` as a mapping (name: Arrow type) or
  ``infer_types: true`` give typed Bronze instead. Without a header, ``columns`` names the columns, else they
  are ``column_1`` .. ``column_N``. TSV has no quoting (a ``"`` is data). A row longer than the block grows
  the block, up to ``max_field_mb``.
- **jsonl** (``.jsonl``/``.ndjson``): parsed by Arrow in chunks, exactly as ``records_to_batch`` would give
  it (nested values as JSON text, mixed types as text; see ``json_reader``); a line that is not an object is
  refused.
- **json**: the document is loaded whole (use jsonl for big files), ``json_path`` picks the record list;
  an object there becomes one row.
- **parquet**: typed as stored, passed through by row group.
- ``.gz``/``.bz2``/``.xz`` compressed csv/tsv/json/jsonl are decompressed on the fly.
- A header-only file lands its columns with no rows; a file of 0 bytes or only blank lines (csv/tsv/json)
  is an error unless ``allow_empty``.
- ``on_bad_lines: quarantine`` sets malformed lines aside into the partition's ``_errors/``.

Every batch gains ``_source_file`` (the file's full path or URL, as a one-value dictionary: the part writer
stores it as a dictionary-encoded ``string``), and ``stats["source_files"]`` lists
``{path, size_bytes, sha256}`` of every file read, hashed while it streams (parquet, which is read from
its footer, by a second chunked read of the same open file).
"""

from __future__ import annotations

from medallion_assets.extractors.file.extractor import SOURCE_FILE_COLUMN, FileExtractor
from medallion_assets.extractors.file.paths import resolve_path_template, storage_options_for

__all__ = ["SOURCE_FILE_COLUMN", "FileExtractor", "resolve_path_template", "storage_options_for"]
