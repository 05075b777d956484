"""Staff: clinics and accounts, portal sessions, administration, and what the portal shows them."""
