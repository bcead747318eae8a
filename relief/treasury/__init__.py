"""The treasurer's domain: deposit batches, direct-to-partner gifts, corrections, assignment of
unassigned gifts, remittances, the partner's reports, the dashboard's figures, exports and the
audit log. Every service takes the chapter it acts for and reads through :mod:`.scope`."""
