"""The readers: reports built from stored studies. Pure summaries first (`points`, `summary`,
`cost`, `comparison`, `collect`), figures from them (`plotting`, `*_figures`), then pages and text
(`html`, `page`, `comparison_page`, `lr_find_page`, `text`). Nothing here runs a trial or opens a
storage: the caller hands in the loaded studies."""
