/* Stand-in for ESP-IDF's esp_idf_version.h in the host check: the version the SDK expects (v6.0). */
#ifndef FAKE_ESP_IDF_VERSION_H
#define FAKE_ESP_IDF_VERSION_H
#define ESP_IDF_VERSION_MAJOR 6
#define ESP_IDF_VERSION_MINOR 0
#define ESP_IDF_VERSION_PATCH 0
#endif
