//! Attack corpus (issue 8, item 2): being written.
