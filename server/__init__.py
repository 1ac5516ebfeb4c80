"""Fieldbook: a mobile-first, offline-capable field-sales CRM."""
