"""Drop-in endpoints for hosted music APIs (Leap, ModelsLab, Segmind), each a thin translation
onto the service's own jobs, validation, engine and storage."""
