"""Operations: logs, status, heartbeat, metrics and systemd notification."""
