"""The engine: encoding, privacy mechanisms, PrivBayes. NumPy/pandas only: no I/O, no Airflow."""
