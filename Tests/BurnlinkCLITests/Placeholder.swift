// The end-to-end CLI tests live in this target.
