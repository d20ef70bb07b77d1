"""Reports read only the storage: pure summaries first, figures and pages from them."""

from hpsearch.report.summary import OptimizerSummary, summarise_optimizers

__all__ = ["OptimizerSummary", "summarise_optimizers"]
