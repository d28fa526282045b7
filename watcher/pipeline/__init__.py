"""The one pipeline every engine drives: which files are ours, and pages read into results rows.

`watch` (watcher.service), local `classify` (watcher.batch) and Spark
(watcher.spark) differ in how they find files and where rows go; what a file
becomes is decided here, once.
"""
