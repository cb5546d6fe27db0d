.PHONY: test test-fast lint fix docs serve vendor screenshots

test:
	python -m pytest

test-fast:
	python -m pytest -m "not slow"

lint:
	ruff check .
	ruff format --check .
	mypy

fix:
	ruff format .
	ruff check --fix .

docs:
	python -m monitor.config.reference > docs/configuration.md

serve:
	monitor serve

vendor:
	bash static/vendor/fetch.sh
	bash tests/vendor/fetch.sh

screenshots:
	PYTHONPATH=src python scripts/screenshots.py
