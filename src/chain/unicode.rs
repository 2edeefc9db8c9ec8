//! Python's `str` definition of a regex word character (`\w`), which hashtag indexing must match.

/// True for characters Python's `re` matches with `\w` on `str` patterns.
pub fn is_python_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}
