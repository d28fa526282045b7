"""Results: the row schema, the CSV store and its ledger, corrections and export."""
