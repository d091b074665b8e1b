"""Airflow plugins of the provider: the generator registry's pages on the api-server (`registry_plugin`)."""
