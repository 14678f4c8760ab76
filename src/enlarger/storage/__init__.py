"""Original image storage: immutable blobs behind one small interface (local disk or S3)."""
