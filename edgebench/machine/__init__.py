"""What this machine is: leaf utilities anything may import."""
