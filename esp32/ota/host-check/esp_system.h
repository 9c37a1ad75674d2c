/* Stand-in for ESP-IDF's esp_system.h in the host check: esp_restart records the call and returns. */
#ifndef FAKE_ESP_SYSTEM_H
#define FAKE_ESP_SYSTEM_H
void esp_restart(void);
#endif
