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

How a run finds its files: ``{run_date}`` (ISO date), ``{run_date:%Y%m%d}`` (any strftime format) and the
same for ``{window_start}``/``{window_end}`` (ISO datetime when plain) are filled in for the partition
(``medallion_assets.templates``, the mechanism the ``file_arrival`` sensor reverses; any other ``{...}`` is
an error); then globs (``*``, ``?``, ``[..]``, ``**``) are listed with ``fs.glob``, a plain path must exist,
and a plain directory means the files directly in it. Files are read in path order. Files whose name starts
with ``_`` or ``.`` (``_SUCCESS``, ``_checksums.json``, ``.crc``) are never picked up by a glob or a
directory listing, nor are files inside such folders below the glob's fixed part; a file named exactly in
``path`` is read.

How each format lands (Bronze is raw; Silver's ``schema.types`` does the typing):

- **csv/tsv**: every column is read as **text**, exactly as written (``"007"`` stays ``"007"``; an empty
  field is an empty string, not null - Silver's ``normalization.empty_strings_as_null`` decides). Inferring
  types per file would make the same column ``int64`` in one file and ``string`` in the next, or fail on a
  late block that breaks the type guessed from the first. Without a header, ``columns`` names the columns,
  else they are ``column_1`` .. ``column_N``. TSV has no quoting (a ``"`` is data).
- **jsonl** (``.jsonl``/``.ndjson``): read line by line, ``batch_rows`` lines per batch, through
  ``records_to_batch`` (nested values as JSON text, mixed types as text; see ``extractors.records``).
- **json**: the document is loaded whole (use jsonl for big files), ``json_path`` picks the record list;
  an object there becomes one row.
- **parquet**: typed as stored, streamed with ``iter_batches`` (memory: about one row group).
- ``.gz``/``.bz2``/``.xz`` compressed csv/tsv/json/jsonl are decompressed on the fly.

Every batch gains ``_source_file`` (the file's full path or URL), and ``stats["source_files"]`` lists
``{path, size_bytes, sha256}`` of every file read, hashed while it streams (parquet, which is read from
its footer, by a second chunked read).
"""

from __future__ import annotations

from medallion_assets.extractors.file.extractor import SOURCE_FILE_COLUMN, FileExtractor
from medallion_assets.extractors.file.paths import resolve_path_template, storage_options_for

__all__ = ["SOURCE_FILE_COLUMN", "FileExtractor", "resolve_path_template", "storage_options_for"]
