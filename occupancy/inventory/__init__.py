"""Bay inventories: one parser per format (CEREMA, Paris, CDS, OSM), derived kerb footprints, opening hours."""
