"""Follow-up reminders: what to do, when, about which record, and its delivery as a push."""
