"""Every file of ../shared/corpus, read in place; skipped when the folder is absent."""
