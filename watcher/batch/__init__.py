"""Local `classify`: files and folders named on the command line."""
