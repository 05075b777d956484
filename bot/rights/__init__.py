"""Patients' data rights: everything held about a patient (export), and crypto-shredding (delete)."""
