"""Readers and writers of tables: local files now; S3 and SQL databases plug in behind the same calls."""
