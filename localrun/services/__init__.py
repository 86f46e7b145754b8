"""What the local stack runs beside the functions: embedded PostgreSQL, moto (AWS), sshd, an SftpGo stub."""
