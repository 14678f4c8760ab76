"""Bulk import (the Sourcing Kit): S3-compatible buckets, URL lists and other Images APIs.

A job and one row per source object live in the catalog (:mod:`.jobs`); a runner (:mod:`.runner`)
lists the source into those rows in batches and imports claimed rows a few at a time, through the
same validation as an upload. See docs/import.md for the design.
"""
