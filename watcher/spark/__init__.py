"""`classify --engine spark`: the same reading and model on Apache Spark, for folders and buckets past one machine.

`files` runs inside Spark's Python workers (bytes in, results rows out),
`session` finds Java and pyspark and starts Spark, `stream` builds and
starts the streaming query, `following` follows it from the driver, and
`watcher.results.parquet` reads which Parquet files a query committed (for `digitwatch
export --parquet`, without Spark). pyspark is imported only inside
functions of `session`, `stream` and `following`: the `spark` extra
installs it.
"""
