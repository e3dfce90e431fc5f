# The README and docs/: the README's layout block against the tree, every
# relative link in README.md and docs/, and the README's length (the rules
# are at the top of Tests/Docs/check_readme.py). Builds nothing.

.PHONY: test-docs

test-docs:
	$(PYTHON) Tests/Docs/check_readme.py
