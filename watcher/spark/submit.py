"""The script to hand to spark-submit: `spark-submit [options] <this file> classify SRC --engine spark --out DIR`.

spark-submit runs a Python file, not a console command; this one runs the
`digitwatch` command line with the arguments after it.
"""

from watcher.cli import app

if __name__ == "__main__":
    app(prog_name="digitwatch")
