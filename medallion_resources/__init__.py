"""The lower layer: storage, the lake's commit protocol, IO managers, HTTP and SQL clients, plugins."""
