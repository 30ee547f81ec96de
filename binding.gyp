{
  "targets": [
    {
      "target_name": "crc32c",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["native/crc32c.c"],
          "cflags": ["-O3", "-msse4.2"]
        }]
      ]
    }
  ]
}
