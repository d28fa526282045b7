"""The `report` command's page: figures, charts and agreement with people."""
