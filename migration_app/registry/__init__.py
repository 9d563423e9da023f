"""The schema registry adapter: ``client`` (long-lived async registry client), ``avro`` (the
Confluent wire-format codec), ``errors``."""
