# msa wire protocol v1: see SPEC.md beside this file.
