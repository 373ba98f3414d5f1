# Two commands on a fresh machine: `make demo` runs the helpdesk, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: demo test system-packages bench widget

$(BIN)/helpdesk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

system-packages:
	bash .ci/system-packages

demo: $(BIN)/helpdesk
	$(BIN)/helpdesk serve --demo --port $(PORT)

test: system-packages $(BIN)/helpdesk
	$(BIN)/pytest -q -p no:cacheprovider

widget: $(BIN)/helpdesk  # rebuild channels/chat/widget/dist/widget.js after editing its source
	$(BIN)/python -m channels.chat.widget.build

bench: $(BIN)/helpdesk
	$(BIN)/helpdesk bench ingest --n 20000
