.PHONY: test test-fast lint fix serve vendor

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

serve:
	monitor serve

vendor:
	bash static/vendor/fetch.sh
