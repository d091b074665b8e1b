"""The test suite's root. pytest puts this folder on sys.path when it imports this file, so every test
module, in any subfolder, imports the shared helpers `service_checks` and `multitable_data` by name."""
