"""Local fakes of the outside systems innominatus speaks to, for integration and end-to-end
tests: small real servers that follow each system's documented API for the calls used."""
