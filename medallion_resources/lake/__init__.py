"""The lake's files: one module per part of the commit protocol (DESIGN §4).

``layout`` (file names, attempts), ``schema`` (the widening rule), ``parts`` (part files), ``manifest``
(``_checksums.json``), ``commit`` (writing a partition and committing it), ``read`` (reading what a manifest
lists, verified).
"""
