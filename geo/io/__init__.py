"""Reading and writing files of the domain: import, export and bulk loading."""
