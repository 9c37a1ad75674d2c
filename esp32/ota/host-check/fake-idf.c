/*
 * A fake of the ESP-IDF calls boot-control.c makes, for running it on the Moddable simulator (lin):
 * two 64 KB app slots in RAM with NOR rules (programming clears bits, erase sets a sector to 0xFF),
 * the running image's otadata state as the check sets it, and a record of what was called. It models
 * the contract of the calls (bounds, alignment, error codes of ESP-IDF v6.0), not ESP-IDF itself:
 * esp_ota_set_boot_partition "validates" an image by its first byte (0xE9, the ESP image magic, or
 * what reset() names: 0x53 for the simulated images of sim/ota/dual-slot.ts).
 * esp_restart and a successful rollback return here (on a device they do not).
 */

#include "xsmc.h"
#include "xsHost.h"

#include <string.h>

#include "esp_err.h"
#include "esp_partition.h"
#include "esp_system.h"
#include "app_update/include/esp_ota_ops.h"

#define kSlotBytes (64 * 1024)
#define kSector 4096

static uint8_t gCells[2][kSlotBytes];
static const esp_partition_t gSlots[2] = {
	{ 0, 0x10, 0x10000, kSlotBytes, kSector, "ota_0", false, false },
	{ 0, 0x11, 0x20000, kSlotBytes, kSector, "ota_1", false, false },
};

static struct {
	esp_ota_img_states_t state;
	esp_err_t stateError;		/* ESP_OK, or what esp_ota_get_state_partition answers */
	esp_err_t rollbackResult;	/* what esp_ota_mark_app_invalid_rollback_and_reboot answers */
	int erases, erasedBytes, writes, writtenBytes, reads;
	int bootSet;				/* index of the slot esp_ota_set_boot_partition took, or -1 */
	int markedValid, rollbacks, restarts;
	int programmedOverData;		/* a program that needed a 0 -> 1 change: NOR cannot do it */
	uint8_t magic;				/* the first byte of an image esp_ota_set_boot_partition accepts */
} gFake;

static int slotIndex(const esp_partition_t *partition)
{
	return (partition == &gSlots[0]) ? 0 : (partition == &gSlots[1]) ? 1 : -1;
}

const char *esp_err_to_name(esp_err_t code)
{
	switch (code) {
		case ESP_OK: return "ESP_OK";
		case ESP_FAIL: return "ESP_FAIL";
		case ESP_ERR_INVALID_ARG: return "ESP_ERR_INVALID_ARG";
		case ESP_ERR_INVALID_SIZE: return "ESP_ERR_INVALID_SIZE";
		case ESP_ERR_NOT_FOUND: return "ESP_ERR_NOT_FOUND";
		case ESP_ERR_NOT_SUPPORTED: return "ESP_ERR_NOT_SUPPORTED";
		case ESP_ERR_NOT_ALLOWED: return "ESP_ERR_NOT_ALLOWED";
		case ESP_ERR_OTA_VALIDATE_FAILED: return "ESP_ERR_OTA_VALIDATE_FAILED";
		case ESP_ERR_OTA_ROLLBACK_FAILED: return "ESP_ERR_OTA_ROLLBACK_FAILED";
		default: return "UNKNOWN ERROR";
	}
}

esp_err_t esp_partition_read(const esp_partition_t *partition, size_t offset, void *dst, size_t size)
{
	int i = slotIndex(partition);
	if (i < 0) return ESP_ERR_INVALID_ARG;
	if (offset > partition->size) return ESP_ERR_INVALID_ARG;
	if (size > partition->size - offset) return ESP_ERR_INVALID_SIZE;
	memcpy(dst, &gCells[i][offset], size);
	gFake.reads++;
	return ESP_OK;
}

esp_err_t esp_partition_write(const esp_partition_t *partition, size_t offset, const void *src, size_t size)
{
	int i = slotIndex(partition);
	if (i < 0) return ESP_ERR_INVALID_ARG;
	if (offset > partition->size) return ESP_ERR_INVALID_ARG;
	if (size > partition->size - offset) return ESP_ERR_INVALID_SIZE;
	const uint8_t *bytes = src;
	for (size_t j = 0; j < size; j++) {
		if (bytes[j] & ~gCells[i][offset + j]) gFake.programmedOverData++;
		gCells[i][offset + j] &= bytes[j];
	}
	gFake.writes++;
	gFake.writtenBytes += (int)size;
	return ESP_OK;
}

esp_err_t esp_partition_erase_range(const esp_partition_t *partition, size_t offset, size_t size)
{
	int i = slotIndex(partition);
	if (i < 0) return ESP_ERR_INVALID_ARG;
	if (offset > partition->size) return ESP_ERR_INVALID_ARG;
	if (size > partition->size - offset) return ESP_ERR_INVALID_SIZE;
	if (size % kSector) return ESP_ERR_INVALID_SIZE;
	if (offset % kSector) return ESP_ERR_INVALID_ARG;
	memset(&gCells[i][offset], 0xFF, size);
	gFake.erases++;
	gFake.erasedBytes += (int)size;
	return ESP_OK;
}

void esp_restart(void)
{
	gFake.restarts++;
}

const esp_partition_t *esp_ota_get_running_partition(void)
{
	return &gSlots[0];
}

const esp_partition_t *esp_ota_get_next_update_partition(const esp_partition_t *start_from)
{
	return &gSlots[1];
}

esp_err_t esp_ota_set_boot_partition(const esp_partition_t *partition)
{
	int i = slotIndex(partition);
	if (i < 0) return ESP_ERR_INVALID_ARG;
	if (gFake.magic != gCells[i][0]) return ESP_ERR_OTA_VALIDATE_FAILED;
	gFake.bootSet = i;
	return ESP_OK;
}

esp_err_t esp_ota_get_state_partition(const esp_partition_t *partition, esp_ota_img_states_t *state)
{
	if (!partition || !state) return ESP_ERR_INVALID_ARG;
	if (ESP_OK != gFake.stateError) return gFake.stateError;
	*state = gFake.state;
	return ESP_OK;
}

esp_err_t esp_ota_mark_app_valid_cancel_rollback(void)
{
	gFake.markedValid++;
	gFake.state = ESP_OTA_IMG_VALID;
	return ESP_OK;
}

esp_err_t esp_ota_mark_app_invalid_rollback(void)
{
	gFake.rollbacks++;
	if (ESP_OK == gFake.rollbackResult)
		gFake.state = ESP_OTA_IMG_INVALID;
	return gFake.rollbackResult;
}

esp_err_t esp_ota_mark_app_invalid_rollback_and_reboot(void)
{
	esp_err_t err = esp_ota_mark_app_invalid_rollback();
	if (ESP_OK == err)
		gFake.restarts++;
	return err;
}

/* ---- what the check drives and reads */

/* reset(state, stateError, rollbackResult[, magic]): blank slots (ota_0 holds the "running image"), counters zero */
void xs_fake_idf_reset(xsMachine *the)
{
	memset(&gFake, 0, sizeof(gFake));
	gFake.state = (esp_ota_img_states_t)xsmcToInteger(xsArg(0));
	gFake.stateError = xsmcToInteger(xsArg(1));
	gFake.rollbackResult = xsmcToInteger(xsArg(2));
	gFake.magic = (xsmcArgc > 3) ? (uint8_t)xsmcToInteger(xsArg(3)) : 0xE9;
	gFake.bootSet = -1;
	memset(gCells[0], 0x5A, kSlotBytes);
	gCells[0][0] = 0xE9;
	memset(gCells[1], 0xFF, kSlotBytes);
}

/* restart(state, stateError, rollbackResult): what the next boot finds in otadata; flash and counters kept */
void xs_fake_idf_restart(xsMachine *the)
{
	gFake.state = (esp_ota_img_states_t)xsmcToInteger(xsArg(0));
	gFake.stateError = xsmcToInteger(xsArg(1));
	gFake.rollbackResult = xsmcToInteger(xsArg(2));
}

/* counters() -> [erases, erasedBytes, writes, writtenBytes, reads, bootSet, markedValid, rollbacks, restarts, programmedOverData] */
void xs_fake_idf_counters(xsMachine *the)
{
	int values[] = { gFake.erases, gFake.erasedBytes, gFake.writes, gFake.writtenBytes, gFake.reads, gFake.bootSet,
		gFake.markedValid, gFake.rollbacks, gFake.restarts, gFake.programmedOverData };
	int count = sizeof(values) / sizeof(values[0]);
	xsmcVars(1);
	xsResult = xsNewArray(count);
	for (int i = 0; i < count; i++) {
		xsmcSetInteger(xsVar(0), values[i]);
		xsmcSetIndex(xsResult, i, xsVar(0));
	}
}

/* cell(slot, offset) -> the byte in the fake flash */
void xs_fake_idf_cell(xsMachine *the)
{
	int slot = xsmcToInteger(xsArg(0));
	int offset = xsmcToInteger(xsArg(1));
	if ((slot < 0) || (slot > 1) || (offset < 0) || (offset >= kSlotBytes))
		xsRangeError("no such cell");
	xsmcSetInteger(xsResult, gCells[slot][offset]);
}
