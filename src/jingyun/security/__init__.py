"""Security: authentication, the permission matrix, de-identification, field encryption, audit."""
