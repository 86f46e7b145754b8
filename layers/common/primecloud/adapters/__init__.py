"""The outside world (storage, SFTP, mail, KMS, queues) behind small interfaces."""
