"""The Matter catalogue against a second, independent reading of the Matter 1.4 data model, and its rules."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from iotbridge import matter
from iotbridge.matter import (
    CLUSTERS,
    DEVICE_TYPES,
    TYPES,
    AttributeSpec,
    CatalogueError,
    ClusterSpec,
    FieldSpec,
    attribute,
    command,
    command_hex,
    device_type,
    event,
    event_field,
    event_fields,
    event_hex,
    field_hex,
)

ROOT = Path(__file__).resolve().parents[3]

# name, id, revision
CLUSTER_FACTS = [
    ("OnOff", 0x0006, 6),
    ("LevelControl", 0x0008, 6),
    ("ColorControl", 0x0300, 7),
    ("TemperatureMeasurement", 0x0402, 4),
    ("RelativeHumidityMeasurement", 0x0405, 3),
    ("IlluminanceMeasurement", 0x0400, 3),
    ("OccupancySensing", 0x0406, 5),
    ("BooleanState", 0x0045, 1),
    ("SmokeCoAlarm", 0x005C, 1),
    ("DoorLock", 0x0101, 8),
    ("WindowCovering", 0x0102, 5),
    ("Thermostat", 0x0201, 8),
    ("FanControl", 0x0202, 4),
    ("PowerSource", 0x002F, 3),
    ("ElectricalPowerMeasurement", 0x0090, 1),
    ("ElectricalEnergyMeasurement", 0x0091, 1),
    ("Switch", 0x003B, 2),
    ("BasicInformation", 0x0028, 4),
    ("BridgedDeviceBasicInformation", 0x0039, 4),
    ("Descriptor", 0x001D, 2),
]

I62 = 2**62
# "Cluster.Attribute", id, type, minimum, maximum (None: the type's own), flags (M mandatory, N nullable)
ATTRIBUTE_FACTS = [
    ("OnOff.OnOff", 0x0000, "bool", None, None, "M"),
    ("OnOff.GlobalSceneControl", 0x4000, "bool", None, None, ""),
    ("OnOff.OnTime", 0x4001, "uint16", None, None, ""),
    ("OnOff.OffWaitTime", 0x4002, "uint16", None, None, ""),
    ("OnOff.StartUpOnOff", 0x4003, "enum8", 0, 2, "N"),
    ("LevelControl.CurrentLevel", 0x0000, "uint8", 0, 254, "MN"),
    ("LevelControl.RemainingTime", 0x0001, "uint16", None, None, ""),
    ("LevelControl.MinLevel", 0x0002, "uint8", 0, 254, ""),
    ("LevelControl.MaxLevel", 0x0003, "uint8", 0, 254, ""),
    ("LevelControl.CurrentFrequency", 0x0004, "uint16", None, None, ""),
    ("LevelControl.MinFrequency", 0x0005, "uint16", None, None, ""),
    ("LevelControl.MaxFrequency", 0x0006, "uint16", None, None, ""),
    ("LevelControl.Options", 0x000F, "bitmap8", None, None, "M"),
    ("LevelControl.OnOffTransitionTime", 0x0010, "uint16", None, None, ""),
    ("LevelControl.OnLevel", 0x0011, "uint8", 0, 254, "MN"),
    ("LevelControl.OnTransitionTime", 0x0012, "uint16", None, None, "N"),
    ("LevelControl.OffTransitionTime", 0x0013, "uint16", None, None, "N"),
    ("LevelControl.DefaultMoveRate", 0x0014, "uint8", None, None, "N"),
    ("LevelControl.StartUpCurrentLevel", 0x4000, "uint8", 0, 254, "N"),
    ("ColorControl.CurrentHue", 0x0000, "uint8", 0, 254, ""),
    ("ColorControl.CurrentSaturation", 0x0001, "uint8", 0, 254, ""),
    ("ColorControl.RemainingTime", 0x0002, "uint16", None, None, ""),
    ("ColorControl.CurrentX", 0x0003, "uint16", 0, 65279, ""),
    ("ColorControl.CurrentY", 0x0004, "uint16", 0, 65279, ""),
    ("ColorControl.ColorTemperatureMireds", 0x0007, "uint16", 1, 65279, ""),
    ("ColorControl.ColorMode", 0x0008, "enum8", 0, 2, "M"),
    ("ColorControl.Options", 0x000F, "bitmap8", None, None, "M"),
    ("ColorControl.EnhancedCurrentHue", 0x4000, "uint16", None, None, ""),
    ("ColorControl.EnhancedColorMode", 0x4001, "enum8", 0, 3, "M"),
    ("ColorControl.ColorCapabilities", 0x400A, "bitmap16", None, None, "M"),
    ("ColorControl.ColorTempPhysicalMinMireds", 0x400B, "uint16", None, None, ""),
    ("ColorControl.ColorTempPhysicalMaxMireds", 0x400C, "uint16", None, None, ""),
    ("ColorControl.CoupleColorTempToLevelMinMireds", 0x400D, "uint16", None, None, ""),
    ("ColorControl.StartUpColorTemperatureMireds", 0x4010, "uint16", None, None, "N"),
    ("TemperatureMeasurement.MeasuredValue", 0x0000, "int16", -27315, 32767, "MN"),
    ("TemperatureMeasurement.MinMeasuredValue", 0x0001, "int16", -27315, 32766, "MN"),
    ("TemperatureMeasurement.MaxMeasuredValue", 0x0002, "int16", -27314, 32767, "MN"),
    ("TemperatureMeasurement.Tolerance", 0x0003, "uint16", 0, 2048, ""),
    ("RelativeHumidityMeasurement.MeasuredValue", 0x0000, "uint16", 0, 10000, "MN"),
    ("RelativeHumidityMeasurement.MinMeasuredValue", 0x0001, "uint16", 0, 9999, "MN"),
    ("RelativeHumidityMeasurement.MaxMeasuredValue", 0x0002, "uint16", 1, 10000, "MN"),
    ("RelativeHumidityMeasurement.Tolerance", 0x0003, "uint16", 0, 2048, ""),
    ("IlluminanceMeasurement.MeasuredValue", 0x0000, "uint16", 0, 65534, "MN"),
    ("IlluminanceMeasurement.MinMeasuredValue", 0x0001, "uint16", 1, 65533, "MN"),
    ("IlluminanceMeasurement.MaxMeasuredValue", 0x0002, "uint16", 2, 65534, "MN"),
    ("IlluminanceMeasurement.Tolerance", 0x0003, "uint16", 0, 2048, ""),
    ("IlluminanceMeasurement.LightSensorType", 0x0004, "enum8", 0, 1, "N"),
    ("OccupancySensing.Occupancy", 0x0000, "bitmap8", None, None, "M"),
    ("OccupancySensing.OccupancySensorType", 0x0001, "enum8", 0, 3, "M"),
    ("OccupancySensing.OccupancySensorTypeBitmap", 0x0002, "bitmap8", None, None, "M"),
    ("OccupancySensing.HoldTime", 0x0003, "uint16", None, None, ""),
    ("BooleanState.StateValue", 0x0000, "bool", None, None, "M"),
    ("SmokeCoAlarm.ExpressedState", 0x0000, "enum8", None, None, ""),
    ("SmokeCoAlarm.SmokeState", 0x0001, "enum8", 0, 2, ""),
    ("SmokeCoAlarm.COState", 0x0002, "enum8", 0, 2, ""),
    ("SmokeCoAlarm.BatteryAlert", 0x0003, "enum8", 0, 2, ""),
    ("DoorLock.LockState", 0x0000, "enum8", 0, 3, "MN"),
    ("DoorLock.LockType", 0x0001, "enum8", 0, 11, "M"),
    ("DoorLock.ActuatorEnabled", 0x0002, "bool", None, None, "M"),
    ("DoorLock.DoorState", 0x0003, "enum8", 0, 5, "N"),
    ("DoorLock.DoorOpenEvents", 0x0004, "uint32", None, None, ""),
    ("DoorLock.DoorClosedEvents", 0x0005, "uint32", None, None, ""),
    ("DoorLock.NumberOfTotalUsersSupported", 0x0011, "uint16", None, None, ""),
    ("DoorLock.AutoRelockTime", 0x0023, "uint32", None, None, ""),
    ("DoorLock.OperatingMode", 0x0025, "enum8", 0, 4, "M"),
    ("DoorLock.SupportedOperatingModes", 0x0026, "bitmap16", None, None, "M"),
    ("WindowCovering.Type", 0x0000, "enum8", None, None, "M"),
    ("WindowCovering.CurrentPositionLift", 0x0003, "uint16", None, None, "N"),
    ("WindowCovering.CurrentPositionTilt", 0x0004, "uint16", None, None, "N"),
    ("WindowCovering.ConfigStatus", 0x0007, "bitmap8", None, None, "M"),
    ("WindowCovering.CurrentPositionLiftPercentage", 0x0008, "uint8", 0, 100, "N"),
    ("WindowCovering.CurrentPositionTiltPercentage", 0x0009, "uint8", 0, 100, "N"),
    ("WindowCovering.OperationalStatus", 0x000A, "bitmap8", None, None, "M"),
    ("WindowCovering.TargetPositionLiftPercent100ths", 0x000B, "uint16", 0, 10000, "N"),
    ("WindowCovering.TargetPositionTiltPercent100ths", 0x000C, "uint16", 0, 10000, "N"),
    ("WindowCovering.EndProductType", 0x000D, "enum8", None, None, "M"),
    ("WindowCovering.CurrentPositionLiftPercent100ths", 0x000E, "uint16", 0, 10000, "N"),
    ("WindowCovering.CurrentPositionTiltPercent100ths", 0x000F, "uint16", 0, 10000, "N"),
    ("WindowCovering.InstalledOpenLimitLift", 0x0010, "uint16", 0, 65534, ""),
    ("WindowCovering.InstalledClosedLimitLift", 0x0011, "uint16", 0, 65534, ""),
    ("WindowCovering.InstalledOpenLimitTilt", 0x0012, "uint16", 0, 65534, ""),
    ("WindowCovering.InstalledClosedLimitTilt", 0x0013, "uint16", 0, 65534, ""),
    ("WindowCovering.Mode", 0x0017, "bitmap8", None, None, "M"),
    ("WindowCovering.SafetyStatus", 0x001A, "bitmap16", None, None, ""),
    ("Thermostat.LocalTemperature", 0x0000, "int16", None, None, "MN"),
    ("Thermostat.OutdoorTemperature", 0x0001, "int16", None, None, "N"),
    ("Thermostat.Occupancy", 0x0002, "bitmap8", None, None, ""),
    ("Thermostat.AbsMinHeatSetpointLimit", 0x0003, "int16", None, None, ""),
    ("Thermostat.AbsMaxHeatSetpointLimit", 0x0004, "int16", None, None, ""),
    ("Thermostat.AbsMinCoolSetpointLimit", 0x0005, "int16", None, None, ""),
    ("Thermostat.AbsMaxCoolSetpointLimit", 0x0006, "int16", None, None, ""),
    ("Thermostat.LocalTemperatureCalibration", 0x0010, "int8", None, None, ""),
    ("Thermostat.OccupiedCoolingSetpoint", 0x0011, "int16", None, None, ""),
    ("Thermostat.OccupiedHeatingSetpoint", 0x0012, "int16", None, None, ""),
    ("Thermostat.UnoccupiedCoolingSetpoint", 0x0013, "int16", None, None, ""),
    ("Thermostat.UnoccupiedHeatingSetpoint", 0x0014, "int16", None, None, ""),
    ("Thermostat.MinHeatSetpointLimit", 0x0015, "int16", None, None, ""),
    ("Thermostat.MaxHeatSetpointLimit", 0x0016, "int16", None, None, ""),
    ("Thermostat.MinCoolSetpointLimit", 0x0017, "int16", None, None, ""),
    ("Thermostat.MaxCoolSetpointLimit", 0x0018, "int16", None, None, ""),
    ("Thermostat.MinSetpointDeadBand", 0x0019, "int8", 0, 127, ""),
    ("Thermostat.ControlSequenceOfOperation", 0x001B, "enum8", 0, 5, "M"),
    ("Thermostat.SystemMode", 0x001C, "enum8", 0, 9, "M"),
    ("Thermostat.ThermostatRunningMode", 0x001E, "enum8", 0, 4, ""),
    ("Thermostat.TemperatureSetpointHold", 0x0023, "enum8", 0, 1, ""),
    ("Thermostat.TemperatureSetpointHoldDuration", 0x0024, "uint16", 0, 1440, "N"),
    ("Thermostat.ThermostatRunningState", 0x0029, "bitmap16", None, None, ""),
    ("Thermostat.SetpointHoldExpiryTimestamp", 0x0052, "uint32", None, None, "N"),
    ("FanControl.FanMode", 0x0000, "enum8", 0, 6, "M"),
    ("FanControl.FanModeSequence", 0x0001, "enum8", 0, 5, "M"),
    ("FanControl.PercentSetting", 0x0002, "uint8", 0, 100, "MN"),
    ("FanControl.PercentCurrent", 0x0003, "uint8", 0, 100, "M"),
    ("FanControl.SpeedMax", 0x0004, "uint8", 1, 100, ""),
    ("FanControl.SpeedSetting", 0x0005, "uint8", 0, 100, "N"),
    ("FanControl.SpeedCurrent", 0x0006, "uint8", 0, 100, ""),
    ("FanControl.RockSupport", 0x0007, "bitmap8", None, None, ""),
    ("FanControl.RockSetting", 0x0008, "bitmap8", None, None, ""),
    ("FanControl.WindSupport", 0x0009, "bitmap8", None, None, ""),
    ("FanControl.WindSetting", 0x000A, "bitmap8", None, None, ""),
    ("FanControl.AirflowDirection", 0x000B, "enum8", 0, 1, ""),
    ("PowerSource.Status", 0x0000, "enum8", 0, 3, "M"),
    ("PowerSource.Order", 0x0001, "uint8", None, None, "M"),
    ("PowerSource.Description", 0x0002, "string", None, None, "M"),
    ("PowerSource.WiredAssessedInputVoltage", 0x0003, "uint32", None, None, "N"),
    ("PowerSource.WiredAssessedInputFrequency", 0x0004, "uint16", None, None, "N"),
    ("PowerSource.WiredCurrentType", 0x0005, "enum8", 0, 1, ""),
    ("PowerSource.WiredAssessedCurrent", 0x0006, "uint32", None, None, "N"),
    ("PowerSource.BatVoltage", 0x000B, "uint32", None, None, "N"),
    ("PowerSource.BatPercentRemaining", 0x000C, "uint8", 0, 200, "N"),
    ("PowerSource.BatTimeRemaining", 0x000D, "uint32", None, None, "N"),
    ("PowerSource.BatChargeLevel", 0x000E, "enum8", 0, 2, ""),
    ("PowerSource.BatReplacementNeeded", 0x000F, "bool", None, None, ""),
    ("PowerSource.BatReplaceability", 0x0010, "enum8", None, None, ""),
    ("PowerSource.BatPresent", 0x0011, "bool", None, None, ""),
    ("PowerSource.BatQuantity", 0x0019, "uint8", None, None, ""),
    ("PowerSource.BatChargeState", 0x001A, "enum8", 0, 3, ""),
    ("ElectricalPowerMeasurement.PowerMode", 0x0000, "enum8", 0, 2, "M"),
    ("ElectricalPowerMeasurement.NumberOfMeasurementTypes", 0x0001, "uint8", 1, None, "M"),
    ("ElectricalPowerMeasurement.Voltage", 0x0004, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.ActiveCurrent", 0x0005, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.ReactiveCurrent", 0x0006, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.ApparentCurrent", 0x0007, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.ActivePower", 0x0008, "int64", -I62, I62, "MN"),
    ("ElectricalPowerMeasurement.ReactivePower", 0x0009, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.ApparentPower", 0x000A, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.RMSVoltage", 0x000B, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.RMSCurrent", 0x000C, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.RMSPower", 0x000D, "int64", -I62, I62, "N"),
    ("ElectricalPowerMeasurement.Frequency", 0x000E, "int64", 0, 1_000_000, "N"),
    ("ElectricalPowerMeasurement.PowerFactor", 0x0011, "int64", -10000, 10000, "N"),
    ("ElectricalPowerMeasurement.NeutralCurrent", 0x0012, "int64", -I62, I62, "N"),
    ("Switch.NumberOfPositions", 0x0000, "uint8", 2, None, "M"),
    ("Switch.CurrentPosition", 0x0001, "uint8", 0, 254, "M"),
    ("Switch.MultiPressMax", 0x0002, "uint8", 2, None, ""),
    ("BasicInformation.DataModelRevision", 0x0000, "uint16", None, None, "M"),
    ("BasicInformation.VendorName", 0x0001, "string", None, None, "M"),
    ("BasicInformation.VendorID", 0x0002, "uint16", None, None, "M"),
    ("BasicInformation.ProductName", 0x0003, "string", None, None, "M"),
    ("BasicInformation.ProductID", 0x0004, "uint16", None, None, "M"),
    ("BasicInformation.NodeLabel", 0x0005, "string", None, None, "M"),
    ("BasicInformation.Location", 0x0006, "string", None, None, "M"),
    ("BasicInformation.HardwareVersion", 0x0007, "uint16", None, None, "M"),
    ("BasicInformation.HardwareVersionString", 0x0008, "string", None, None, "M"),
    ("BasicInformation.SoftwareVersion", 0x0009, "uint32", None, None, "M"),
    ("BasicInformation.SoftwareVersionString", 0x000A, "string", None, None, "M"),
    ("BasicInformation.ManufacturingDate", 0x000B, "string", None, None, ""),
    ("BasicInformation.PartNumber", 0x000C, "string", None, None, ""),
    ("BasicInformation.ProductURL", 0x000D, "string", None, None, ""),
    ("BasicInformation.ProductLabel", 0x000E, "string", None, None, ""),
    ("BasicInformation.SerialNumber", 0x000F, "string", None, None, ""),
    ("BasicInformation.LocalConfigDisabled", 0x0010, "bool", None, None, ""),
    ("BasicInformation.Reachable", 0x0011, "bool", None, None, ""),
    ("BasicInformation.UniqueID", 0x0012, "string", None, None, "M"),
    ("BasicInformation.SpecificationVersion", 0x0015, "uint32", None, None, "M"),
    ("BasicInformation.MaxPathsPerInvoke", 0x0016, "uint16", 1, None, "M"),
    ("BridgedDeviceBasicInformation.VendorName", 0x0001, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.VendorID", 0x0002, "uint16", None, None, ""),
    ("BridgedDeviceBasicInformation.ProductName", 0x0003, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.NodeLabel", 0x0005, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.HardwareVersion", 0x0007, "uint16", None, None, ""),
    ("BridgedDeviceBasicInformation.HardwareVersionString", 0x0008, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.SoftwareVersion", 0x0009, "uint32", None, None, ""),
    ("BridgedDeviceBasicInformation.SoftwareVersionString", 0x000A, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.ManufacturingDate", 0x000B, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.PartNumber", 0x000C, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.ProductURL", 0x000D, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.ProductLabel", 0x000E, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.SerialNumber", 0x000F, "string", None, None, ""),
    ("BridgedDeviceBasicInformation.Reachable", 0x0011, "bool", None, None, "M"),
    ("BridgedDeviceBasicInformation.UniqueID", 0x0012, "string", None, None, "M"),
]

# Units where a mapping must scale a cloud's value: getting one wrong is off by a factor.
UNIT_FACTS = [
    ("LevelControl.RemainingTime", "1/10 s"),
    ("OnOff.OnTime", "1/10 s"),
    ("ColorControl.ColorTemperatureMireds", "mireds"),
    ("TemperatureMeasurement.MeasuredValue", "0.01 °C"),
    ("Thermostat.OccupiedHeatingSetpoint", "0.01 °C"),
    ("Thermostat.LocalTemperatureCalibration", "0.1 °C"),
    ("RelativeHumidityMeasurement.MeasuredValue", "0.01 %"),
    ("PowerSource.BatPercentRemaining", "half-percent"),
    ("WindowCovering.CurrentPositionLiftPercent100ths", "0.01 %"),
    ("ElectricalPowerMeasurement.ActivePower", "mW"),
    ("ElectricalPowerMeasurement.Frequency", "mHz"),
]

# "Cluster.Command", id
COMMAND_FACTS = [
    ("OnOff.Off", 0x00),
    ("OnOff.On", 0x01),
    ("OnOff.Toggle", 0x02),
    ("OnOff.OffWithEffect", 0x40),
    ("OnOff.OnWithRecallGlobalScene", 0x41),
    ("OnOff.OnWithTimedOff", 0x42),
    ("LevelControl.MoveToLevel", 0x00),
    ("LevelControl.Move", 0x01),
    ("LevelControl.Step", 0x02),
    ("LevelControl.Stop", 0x03),
    ("LevelControl.MoveToLevelWithOnOff", 0x04),
    ("LevelControl.MoveWithOnOff", 0x05),
    ("LevelControl.StepWithOnOff", 0x06),
    ("LevelControl.StopWithOnOff", 0x07),
    ("LevelControl.MoveToClosestFrequency", 0x08),
    ("ColorControl.MoveToHue", 0x00),
    ("ColorControl.MoveHue", 0x01),
    ("ColorControl.StepHue", 0x02),
    ("ColorControl.MoveToSaturation", 0x03),
    ("ColorControl.MoveSaturation", 0x04),
    ("ColorControl.StepSaturation", 0x05),
    ("ColorControl.MoveToHueAndSaturation", 0x06),
    ("ColorControl.MoveToColor", 0x07),
    ("ColorControl.MoveColor", 0x08),
    ("ColorControl.StepColor", 0x09),
    ("ColorControl.MoveToColorTemperature", 0x0A),
    ("ColorControl.EnhancedMoveToHue", 0x40),
    ("ColorControl.EnhancedMoveHue", 0x41),
    ("ColorControl.EnhancedStepHue", 0x42),
    ("ColorControl.EnhancedMoveToHueAndSaturation", 0x43),
    ("ColorControl.ColorLoopSet", 0x44),
    ("ColorControl.StopMoveStep", 0x47),
    ("ColorControl.MoveColorTemperature", 0x4B),
    ("ColorControl.StepColorTemperature", 0x4C),
    ("DoorLock.LockDoor", 0x00),
    ("DoorLock.UnlockDoor", 0x01),
    ("DoorLock.UnlockWithTimeout", 0x03),
    ("DoorLock.SetUser", 0x1A),
    ("DoorLock.GetUser", 0x1B),
    ("DoorLock.ClearUser", 0x1D),
    ("DoorLock.SetCredential", 0x22),
    ("DoorLock.GetCredentialStatus", 0x24),
    ("DoorLock.ClearCredential", 0x26),
    ("DoorLock.UnboltDoor", 0x27),
    ("WindowCovering.UpOrOpen", 0x00),
    ("WindowCovering.DownOrClose", 0x01),
    ("WindowCovering.StopMotion", 0x02),
    ("WindowCovering.GoToLiftValue", 0x04),
    ("WindowCovering.GoToLiftPercentage", 0x05),
    ("WindowCovering.GoToTiltValue", 0x07),
    ("WindowCovering.GoToTiltPercentage", 0x08),
    ("Thermostat.SetpointRaiseLower", 0x00),
    ("Thermostat.SetWeeklySchedule", 0x01),
    ("Thermostat.GetWeeklySchedule", 0x02),
    ("Thermostat.ClearWeeklySchedule", 0x03),
    ("Thermostat.SetActiveScheduleRequest", 0x05),
    ("Thermostat.SetActivePresetRequest", 0x06),
    ("FanControl.Step", 0x00),
]

# "Cluster.Event", id
EVENT_FACTS = [
    ("OccupancySensing.OccupancyChanged", 0x00),
    ("BooleanState.StateChange", 0x00),
    ("DoorLock.DoorLockAlarm", 0x00),
    ("DoorLock.DoorStateChange", 0x01),
    ("DoorLock.LockOperation", 0x02),
    ("DoorLock.LockOperationError", 0x03),
    ("DoorLock.LockUserChange", 0x04),
    ("PowerSource.WiredFaultChange", 0x00),
    ("PowerSource.BatFaultChange", 0x01),
    ("PowerSource.BatChargeFaultChange", 0x02),
    ("ElectricalPowerMeasurement.MeasurementPeriodRanges", 0x00),
    ("ElectricalEnergyMeasurement.CumulativeEnergyMeasured", 0x00),
    ("ElectricalEnergyMeasurement.PeriodicEnergyMeasured", 0x01),
    ("Switch.SwitchLatched", 0x00),
    ("Switch.InitialPress", 0x01),
    ("Switch.LongPress", 0x02),
    ("Switch.ShortRelease", 0x03),
    ("Switch.LongRelease", 0x04),
    ("Switch.MultiPressOngoing", 0x05),
    ("Switch.MultiPressComplete", 0x06),
    ("BasicInformation.StartUp", 0x00),
    ("BasicInformation.ShutDown", 0x01),
    ("BasicInformation.Leave", 0x02),
    ("BasicInformation.ReachableChanged", 0x03),
    ("BridgedDeviceBasicInformation.ReachableChanged", 0x03),
]

LOCK_OPERATION_TYPES = {0: "Lock", 1: "Unlock", 2: "NonAccessUserEvent", 3: "ForcedUserEvent", 4: "Unlatch"}
OPERATION_SOURCES = {
    0: "Unspecified",
    1: "Manual",
    2: "ProprietaryRemote",
    3: "Keypad",
    4: "Auto",
    5: "Button",
    6: "Schedule",
    7: "Remote",
    8: "RFID",
    9: "Biometric",
    10: "Aliro",
}
# "Cluster.Event.Field", id, type, minimum, maximum, flags, enum values (value: name). Read from the Matter
# 1.4 data model (connectedhomeip data_model/1.4/clusters/*.xml); fabric-idx is a uint8 1..254, node-id a
# uint64.
EVENT_FIELD_FACTS: list[tuple[str, int, str, int | None, int | None, str, dict[int, str]]] = [
    ("OccupancySensing.OccupancyChanged.Occupancy", 0, "bitmap8", None, None, "M", {}),
    ("BooleanState.StateChange.StateValue", 0, "bool", None, None, "M", {}),
    (
        "DoorLock.DoorLockAlarm.AlarmCode",
        0,
        "enum8",
        None,
        None,
        "M",
        {
            0: "LockJammed",
            1: "LockFactoryReset",
            3: "LockRadioPowerCycled",
            4: "WrongCodeEntryLimit",
            5: "FrontEsceutcheonRemoved",
            6: "DoorForcedOpen",
            7: "DoorAjar",
            8: "ForcedUser",
        },
    ),
    (
        "DoorLock.DoorStateChange.DoorState",
        0,
        "enum8",
        None,
        None,
        "M",
        {
            0: "DoorOpen",
            1: "DoorClosed",
            2: "DoorJammed",
            3: "DoorForcedOpen",
            4: "DoorUnspecifiedError",
            5: "DoorAjar",
        },
    ),
    ("DoorLock.LockOperation.LockOperationType", 0, "enum8", None, None, "M", LOCK_OPERATION_TYPES),
    ("DoorLock.LockOperation.OperationSource", 1, "enum8", None, None, "M", OPERATION_SOURCES),
    ("DoorLock.LockOperation.UserIndex", 2, "uint16", None, None, "MN", {}),
    ("DoorLock.LockOperation.FabricIndex", 3, "uint8", 1, 254, "MN", {}),
    ("DoorLock.LockOperation.SourceNode", 4, "uint64", None, None, "MN", {}),
    ("DoorLock.LockOperationError.LockOperationType", 0, "enum8", None, None, "M", LOCK_OPERATION_TYPES),
    ("DoorLock.LockOperationError.OperationSource", 1, "enum8", None, None, "M", OPERATION_SOURCES),
    (
        "DoorLock.LockOperationError.OperationError",
        2,
        "enum8",
        None,
        None,
        "M",
        {
            0: "Unspecified",
            1: "InvalidCredential",
            2: "DisabledUserDenied",
            3: "Restricted",
            4: "InsufficientBattery",
        },
    ),
    ("DoorLock.LockOperationError.UserIndex", 3, "uint16", None, None, "MN", {}),
    ("DoorLock.LockOperationError.FabricIndex", 4, "uint8", 1, 254, "MN", {}),
    ("DoorLock.LockOperationError.SourceNode", 5, "uint64", None, None, "MN", {}),
    (
        "DoorLock.LockUserChange.LockDataType",
        0,
        "enum8",
        None,
        None,
        "M",
        {
            0: "Unspecified",
            1: "ProgrammingCode",
            2: "UserIndex",
            3: "WeekDaySchedule",
            4: "YearDaySchedule",
            5: "HolidaySchedule",
            6: "PIN",
            7: "RFID",
            8: "Fingerprint",
            9: "FingerVein",
            10: "Face",
            11: "AliroCredentialIssuerKey",
            12: "AliroEvictableEndpointKey",
            13: "AliroNonEvictableEndpointKey",
        },
    ),
    (
        "DoorLock.LockUserChange.DataOperationType",
        1,
        "enum8",
        None,
        None,
        "M",
        {0: "Add", 1: "Clear", 2: "Modify"},
    ),
    # The specification allows only these four sources for a user change.
    (
        "DoorLock.LockUserChange.OperationSource",
        2,
        "enum8",
        None,
        None,
        "M",
        {0: "Unspecified", 3: "Keypad", 7: "Remote", 10: "Aliro"},
    ),
    ("DoorLock.LockUserChange.UserIndex", 3, "uint16", None, None, "MN", {}),
    ("DoorLock.LockUserChange.FabricIndex", 4, "uint8", 1, 254, "MN", {}),
    ("DoorLock.LockUserChange.SourceNode", 5, "uint64", None, None, "MN", {}),
    ("DoorLock.LockUserChange.DataIndex", 6, "uint16", None, None, "MN", {}),
    ("Switch.SwitchLatched.NewPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.InitialPress.NewPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.LongPress.NewPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.ShortRelease.PreviousPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.LongRelease.PreviousPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.MultiPressOngoing.NewPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.MultiPressOngoing.CurrentNumberOfPressesCounted", 1, "uint8", 2, None, "M", {}),
    ("Switch.MultiPressComplete.PreviousPosition", 0, "uint8", None, None, "M", {}),
    ("Switch.MultiPressComplete.TotalNumberOfPressesCounted", 1, "uint8", None, None, "M", {}),
    ("BasicInformation.StartUp.SoftwareVersion", 0, "uint32", None, None, "M", {}),
    ("BasicInformation.Leave.FabricIndex", 0, "uint8", 1, 254, "M", {}),
    ("BasicInformation.ReachableChanged.ReachableNewValue", 0, "bool", None, None, "M", {}),
    ("BridgedDeviceBasicInformation.ReachableChanged.ReachableNewValue", 0, "bool", None, None, "M", {}),
]

# name, id, revision, required server clusters
DEVICE_TYPE_FACTS = [
    ("OnOffLight", 0x0100, 3, {"OnOff"}),
    ("DimmableLight", 0x0101, 3, {"OnOff", "LevelControl"}),
    ("ColorTemperatureLight", 0x010C, 4, {"OnOff", "LevelControl", "ColorControl"}),
    ("ExtendedColorLight", 0x010D, 4, {"OnOff", "LevelControl", "ColorControl"}),
    ("OnOffPlugInUnit", 0x010A, 3, {"OnOff"}),
    ("DimmablePlugInUnit", 0x010B, 4, {"OnOff", "LevelControl"}),
    ("MountedOnOffControl", 0x010F, 1, {"OnOff"}),
    ("MountedDimmableLoadControl", 0x0110, 1, {"OnOff", "LevelControl"}),
    ("OnOffLightSwitch", 0x0103, 3, set()),
    ("DimmerSwitch", 0x0104, 3, set()),
    ("GenericSwitch", 0x000F, 3, {"Switch"}),
    ("ContactSensor", 0x0015, 2, {"BooleanState"}),
    ("WaterLeakDetector", 0x0043, 1, {"BooleanState"}),
    ("RainSensor", 0x0044, 1, {"BooleanState"}),
    ("TemperatureSensor", 0x0302, 2, {"TemperatureMeasurement"}),
    ("HumiditySensor", 0x0307, 2, {"RelativeHumidityMeasurement"}),
    ("LightSensor", 0x0106, 3, {"IlluminanceMeasurement"}),
    ("OccupancySensor", 0x0107, 4, {"OccupancySensing"}),
    ("SmokeCoAlarm", 0x0076, 1, {"SmokeCoAlarm"}),
    ("DoorLock", 0x000A, 3, {"DoorLock"}),
    ("WindowCovering", 0x0202, 3, {"WindowCovering"}),
    ("Thermostat", 0x0301, 4, {"Thermostat"}),
    ("Fan", 0x002B, 3, {"FanControl"}),
    ("AirPurifier", 0x002D, 2, {"FanControl"}),
    ("RoomAirConditioner", 0x0072, 2, {"OnOff", "Thermostat"}),
    ("PowerSource", 0x0011, 1, {"PowerSource"}),
    ("Aggregator", 0x000E, 2, set()),
    ("BridgedNode", 0x0013, 3, {"BridgedDeviceBasicInformation"}),
    ("OnOffSensor", 0x0850, 3, set()),
]

OWN_RANGES = {
    "uint8": (0, 255),
    "uint16": (0, 65535),
    "uint32": (0, 4294967295),
    "int8": (-128, 127),
    "int16": (-32768, 32767),
    "int64": (-(2**63), 2**63 - 1),
    "enum8": (0, 255),
    "bitmap8": (0, 255),
    "bitmap16": (0, 65535),
    "bitmap32": (0, 4294967295),
}
NUMERIC = set(OWN_RANGES)


def all_attributes() -> list[AttributeSpec]:
    return [spec for cluster in CLUSTERS.values() for spec in cluster.attributes.values()]


def attribute_params(types: set[str] | frozenset[str] = TYPES) -> list[object]:
    """Every catalogued attribute of one of `types`, named "Cluster.Attribute" in the test id."""
    return [
        pytest.param(spec, id=f"{cluster.name}.{spec.name}")
        for cluster in CLUSTERS.values()
        for spec in cluster.attributes.values()
        if spec.type in types
    ]


def low_high(spec: AttributeSpec) -> tuple[int, int]:
    own_low, own_high = OWN_RANGES[spec.type]
    low = own_low if spec.minimum is None else spec.minimum
    high = own_high if spec.maximum is None else spec.maximum
    return low, high


# ----------------------------------------------------------------------------------------------------
# The facts


@pytest.mark.parametrize(
    ("name", "cluster_id", "revision"), CLUSTER_FACTS, ids=[row[0] for row in CLUSTER_FACTS]
)
def test_cluster_has_the_specified_id_and_revision(name: str, cluster_id: int, revision: int) -> None:
    spec = CLUSTERS[name]
    assert (spec.name, spec.id, spec.revision) == (name, cluster_id, revision)


def test_catalogue_holds_exactly_the_listed_clusters() -> None:
    assert set(CLUSTERS) == {row[0] for row in CLUSTER_FACTS}


@pytest.mark.parametrize(
    ("path", "attribute_id", "type_", "minimum", "maximum", "flags"),
    ATTRIBUTE_FACTS,
    ids=[row[0] for row in ATTRIBUTE_FACTS],
)
def test_attribute_has_the_specified_id_type_bounds_and_qualities(
    path: str, attribute_id: int, type_: str, minimum: int | None, maximum: int | None, flags: str
) -> None:
    _, spec = attribute(path)
    assert spec.name == path.split(".")[1]
    assert spec.id == attribute_id
    assert spec.type == type_
    assert (spec.minimum, spec.maximum) == (minimum, maximum)
    assert spec.nullable is ("N" in flags)
    assert spec.mandatory is ("M" in flags)


def test_catalogue_holds_exactly_the_listed_attributes() -> None:
    catalogued = {f"{cluster.name}.{name}" for cluster in CLUSTERS.values() for name in cluster.attributes}
    assert catalogued == {row[0] for row in ATTRIBUTE_FACTS}


@pytest.mark.parametrize(("path", "unit"), UNIT_FACTS, ids=[row[0] for row in UNIT_FACTS])
def test_attribute_names_the_scale_of_its_value(path: str, unit: str) -> None:
    assert attribute(path)[1].unit == unit


@pytest.mark.parametrize(("path", "command_id"), COMMAND_FACTS, ids=[row[0] for row in COMMAND_FACTS])
def test_command_has_the_specified_id(path: str, command_id: int) -> None:
    cluster, found = command(path)
    assert cluster.name == path.split(".", maxsplit=1)[0]
    assert found == command_id


def test_catalogue_holds_exactly_the_listed_commands() -> None:
    catalogued = {f"{cluster.name}.{name}" for cluster in CLUSTERS.values() for name in cluster.commands}
    assert catalogued == {row[0] for row in COMMAND_FACTS}


@pytest.mark.parametrize(("path", "event_id"), EVENT_FACTS, ids=[row[0] for row in EVENT_FACTS])
def test_event_has_the_specified_id(path: str, event_id: int) -> None:
    cluster, found = event(path)
    assert cluster.name == path.split(".", maxsplit=1)[0]
    assert found == event_id


def test_catalogue_holds_exactly_the_listed_events() -> None:
    catalogued = {f"{cluster.name}.{name}" for cluster in CLUSTERS.values() for name in cluster.events}
    assert catalogued == {row[0] for row in EVENT_FACTS}


@pytest.mark.parametrize(
    ("path", "field_id", "type_", "minimum", "maximum", "flags", "values"),
    EVENT_FIELD_FACTS,
    ids=[row[0] for row in EVENT_FIELD_FACTS],
)
def test_event_field_has_the_specified_id_type_bounds_qualities_and_values(
    path: str,
    field_id: int,
    type_: str,
    minimum: int | None,
    maximum: int | None,
    flags: str,
    values: dict[int, str],
) -> None:
    event_path, _, name = path.rpartition(".")
    spec = event_field(event_path, name)
    assert (spec.name, spec.id, spec.type) == (name, field_id, type_)
    assert (spec.minimum, spec.maximum) == (minimum, maximum)
    assert spec.nullable is ("N" in flags)
    assert spec.mandatory is ("M" in flags)
    assert dict(spec.values) == values


def test_catalogue_holds_exactly_the_listed_event_fields() -> None:
    catalogued = {
        f"{cluster.name}.{event_name}.{field}"
        for cluster in CLUSTERS.values()
        for event_name in cluster.events
        for field in event_fields(f"{cluster.name}.{event_name}")
    }
    assert catalogued == {row[0] for row in EVENT_FIELD_FACTS}


def test_an_enum_field_takes_only_its_listed_values() -> None:
    # AlarmCode leaves 2 unused: the type's range alone would take it.
    alarm = event_field("DoorLock.DoorLockAlarm", "AlarmCode")
    assert [alarm.problem(v) for v in (0, 1, 3, 8)] == [None] * 4
    assert alarm.problem(2) == "must be one of 0, 1, 3, 4, 5, 6, 7, 8"
    assert alarm.problem(9) is not None
    assert alarm.problem("LockJammed") == "must be a whole number"


def test_a_nullable_field_takes_null_and_a_mandatory_one_does_not() -> None:
    assert event_field("DoorLock.LockOperation", "UserIndex").problem(None) is None
    assert event_field("DoorLock.LockOperation", "OperationSource").problem(None) == "must not be null"


def test_a_fabric_index_is_1_to_254() -> None:
    fabric = event_field("DoorLock.LockOperation", "FabricIndex")
    assert (fabric.problem(0), fabric.problem(1), fabric.problem(254)) == ("must be 1..254", None, None)


def test_an_unknown_field_is_named_with_the_events_fields() -> None:
    with pytest.raises(CatalogueError) as caught:
        event_field("DoorLock.LockOperation", "OperationSrc")
    message = str(caught.value)
    assert message.startswith(
        'unknown field "OperationSrc" of "DoorLock.LockOperation" (did you mean OperationSource'
    )
    assert "DoorLock.LockOperation has LockOperationType, OperationSource, UserIndex" in message


def test_an_event_without_catalogued_fields_has_none() -> None:
    assert event_fields("BasicInformation.ShutDown") == {}
    with pytest.raises(CatalogueError, match=r"BasicInformation\.ShutDown has none"):
        event_field("BasicInformation.ShutDown", "Reason")


def test_field_ids_are_written_as_attribute_ids_are() -> None:
    assert (field_hex(0), field_hex(6), field_hex(0xFF)) == ("0x0000", "0x0006", "0x00FF")
    with pytest.raises(ValueError):
        field_hex(0x100)


@pytest.mark.parametrize(
    ("name", "device_type_id", "revision", "required"),
    DEVICE_TYPE_FACTS,
    ids=[row[0] for row in DEVICE_TYPE_FACTS],
)
def test_device_type_has_the_specified_id_revision_and_required_clusters(
    name: str, device_type_id: int, revision: int, required: set[str]
) -> None:
    spec = device_type(name)
    assert (spec.name, spec.id, spec.revision) == (name, device_type_id, revision)
    assert set(spec.required_clusters) == required
    assert len(spec.required_clusters) == len(required)


def test_catalogue_holds_exactly_the_listed_device_types() -> None:
    assert set(DEVICE_TYPES) == {row[0] for row in DEVICE_TYPE_FACTS}


def test_switches_require_no_server_cluster_because_theirs_are_client_clusters() -> None:
    assert device_type("OnOffLightSwitch").required_clusters == ()
    assert device_type("DimmerSwitch").required_clusters == ()


@pytest.mark.parametrize("spec", DEVICE_TYPES.values(), ids=list(DEVICE_TYPES))
def test_every_required_cluster_is_catalogued(spec: matter.DeviceTypeSpec) -> None:
    assert set(spec.required_clusters) <= set(CLUSTERS)


def test_ids_are_unique_within_their_kind() -> None:
    assert len({spec.id for spec in CLUSTERS.values()}) == len(CLUSTERS)
    assert len({spec.id for spec in DEVICE_TYPES.values()}) == len(DEVICE_TYPES)
    for cluster in CLUSTERS.values():
        assert len({spec.id for spec in cluster.attributes.values()}) == len(cluster.attributes), cluster.name
        assert len(set(cluster.commands.values())) == len(cluster.commands), cluster.name
        assert len(set(cluster.events.values())) == len(cluster.events), cluster.name


def test_attributes_are_filed_under_their_own_names() -> None:
    for cluster in CLUSTERS.values():
        for name, spec in cluster.attributes.items():
            assert name == spec.name, cluster.name


def test_every_attribute_type_is_one_of_the_types() -> None:
    assert {
        "bool",
        "uint8",
        "uint16",
        "uint32",
        "int8",
        "int16",
        "int64",
        "uint64",  # an event's SourceNode, a node id
        "enum8",
        "bitmap8",
        "bitmap16",
        "bitmap32",
        "string",
    } == TYPES
    assert {spec.type for spec in all_attributes()} <= TYPES


# ----------------------------------------------------------------------------------------------------
# Values: problem and clamped


@pytest.mark.parametrize("spec", attribute_params(NUMERIC))
def test_problem_accepts_the_bounds_and_refuses_one_beyond_each(spec: AttributeSpec) -> None:
    low, high = low_high(spec)
    assert spec.problem(low) is None
    assert spec.problem(high) is None
    assert spec.problem(low - 1) == f"must be {low}..{high}"
    assert spec.problem(high + 1) == f"must be {low}..{high}"


@pytest.mark.parametrize("spec", attribute_params(NUMERIC))
def test_problem_refuses_a_bool_or_a_float_for_an_integer(spec: AttributeSpec) -> None:
    low, _ = low_high(spec)
    assert spec.problem(True) == "must be a whole number"
    assert spec.problem(False) == "must be a whole number"
    assert spec.problem(float(low)) == "must be a whole number"
    assert spec.problem(str(low)) == "must be a whole number"


@pytest.mark.parametrize("spec", attribute_params({"bool"}))
def test_problem_takes_only_true_or_false_for_a_bool(spec: AttributeSpec) -> None:
    assert spec.problem(True) is None
    assert spec.problem(False) is None
    assert spec.problem(1) == "must be true or false"
    assert spec.problem(0) == "must be true or false"
    assert spec.problem("true") == "must be true or false"


def test_problem_takes_only_a_string_for_a_string() -> None:
    _, spec = attribute("BasicInformation.SerialNumber")
    assert spec.problem("SN-1") is None
    assert spec.problem("") is None
    assert spec.problem(1) == "must be a string"


@pytest.mark.parametrize("spec", attribute_params())
def test_problem_takes_null_only_where_nullable(spec: AttributeSpec) -> None:
    assert spec.problem(None) == (None if spec.nullable else "must not be null")


def test_problem_names_the_rule_never_the_value() -> None:
    _, spec = attribute("LevelControl.CurrentLevel")
    rule = spec.problem(987654)
    assert rule == "must be 0..254"
    assert "987654" not in rule


def test_level_zero_fits_current_level_because_the_lighting_floor_is_the_mappings_business() -> None:
    _, spec = attribute("LevelControl.CurrentLevel")
    assert spec.problem(0) is None
    assert spec.problem(255) == "must be 0..254"


def test_temperature_refuses_below_absolute_zero() -> None:
    _, spec = attribute("TemperatureMeasurement.MeasuredValue")
    assert spec.problem(-27315) is None
    assert spec.problem(-27316) == "must be -27315..32767"


def test_illuminance_takes_zero_for_too_dark_and_refuses_the_top_value() -> None:
    _, spec = attribute("IlluminanceMeasurement.MeasuredValue")
    assert spec.problem(0) is None
    assert spec.problem(0xFFFF) == "must be 0..65534"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(127.4, 127), (127.5, 128), (0.5, 1), (-0.4, 0), (-3, 0), (300, 254), (254.6, 254), (100, 100)],
)
def test_clamped_rounds_to_the_nearest_whole_number_within_the_bounds(value: float, expected: int) -> None:
    _, spec = attribute("LevelControl.CurrentLevel")
    assert spec.clamped(value) == expected
    assert type(spec.clamped(value)) is int


def test_clamped_rounds_halves_away_from_zero() -> None:
    _, spec = attribute("Thermostat.LocalTemperatureCalibration")
    assert spec.clamped(2.5) == 3
    assert spec.clamped(-2.5) == -3
    # The largest float below one half: adding 0.5 first would round it up to 1.
    assert spec.clamped(0.49999999999999994) == 0
    assert spec.clamped(-0.49999999999999994) == 0


def test_clamped_uses_the_types_own_range_where_no_bound_is_set() -> None:
    _, spec = attribute("Thermostat.OccupiedHeatingSetpoint")
    assert spec.clamped(40000) == 32767
    assert spec.clamped(-40000) == -32768
    assert spec.clamped(2049.6) == 2050


def test_clamped_puts_infinities_at_the_bounds_and_refuses_nan() -> None:
    _, spec = attribute("FanControl.PercentSetting")
    assert spec.clamped(math.inf) == 100
    assert spec.clamped(-math.inf) == 0
    with pytest.raises(ValueError, match="NaN"):
        spec.clamped(math.nan)


@pytest.mark.parametrize("path", ["OnOff.OnOff", "BasicInformation.VendorName"])
def test_clamped_refuses_an_attribute_that_is_not_a_number(path: str) -> None:
    _, spec = attribute(path)
    with pytest.raises(TypeError):
        spec.clamped(1)


@pytest.mark.parametrize("spec", attribute_params(NUMERIC))
def test_clamped_results_always_fit(spec: AttributeSpec) -> None:
    low, high = low_high(spec)
    for value in (low - 10, low - 0.6, low, (low + high) / 2, high, high + 0.6, high + 10):
        assert spec.problem(spec.clamped(value)) is None


# ----------------------------------------------------------------------------------------------------
# Hex ids

FOUR_DIGITS = re.compile(r"0x[0-9A-F]{4}")
TWO_DIGITS = re.compile(r"0x[0-9A-F]{2}")


def test_hex_ids_are_four_upper_case_digits() -> None:
    assert CLUSTERS["ColorControl"].hex_id == "0x0300"
    assert CLUSTERS["LevelControl"].hex_id == "0x0008"
    assert CLUSTERS["SmokeCoAlarm"].hex_id == "0x005C"
    assert attribute("ColorControl.ColorCapabilities")[1].hex_id == "0x400A"
    assert attribute("OnOff.OnOff")[1].hex_id == "0x0000"
    assert device_type("DimmableLight").hex_id == "0x0101"
    assert device_type("OnOffSensor").hex_id == "0x0850"
    for cluster in CLUSTERS.values():
        assert FOUR_DIGITS.fullmatch(cluster.hex_id), cluster.name
        for spec in cluster.attributes.values():
            assert FOUR_DIGITS.fullmatch(spec.hex_id), spec.name
    for device in DEVICE_TYPES.values():
        assert FOUR_DIGITS.fullmatch(device.hex_id), device.name


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0x00, "0x00"), (0x0A, "0x0A"), (0x4C, "0x4C"), (0xFF, "0xFF"), (0x100, "0x0100")],
)
def test_command_and_event_ids_take_two_digits_below_0x100_and_four_from_there(
    number: int, expected: str
) -> None:
    assert command_hex(number) == expected
    assert event_hex(number) == expected


def test_every_catalogued_command_and_event_id_takes_two_digits() -> None:
    for cluster in CLUSTERS.values():
        for number in [*cluster.commands.values(), *cluster.events.values()]:
            assert TWO_DIGITS.fullmatch(command_hex(number)), cluster.name
            assert TWO_DIGITS.fullmatch(event_hex(number)), cluster.name


@pytest.mark.parametrize("number", [-1, 0x10000, True])
def test_hex_refuses_what_is_not_an_id(number: int) -> None:
    with pytest.raises(ValueError):
        command_hex(number)


# ----------------------------------------------------------------------------------------------------
# Lookups


def test_lookups_answer_the_cluster_with_the_member() -> None:
    cluster, spec = attribute("LevelControl.CurrentLevel")
    assert cluster is CLUSTERS["LevelControl"]
    assert spec is CLUSTERS["LevelControl"].attributes["CurrentLevel"]
    assert command("OnOff.Off") == (CLUSTERS["OnOff"], 0x00)
    assert event("Switch.InitialPress") == (CLUSTERS["Switch"], 0x01)
    assert device_type("DimmableLight") is DEVICE_TYPES["DimmableLight"]
    assert matter.cluster("Switch") is CLUSTERS["Switch"]


@pytest.mark.parametrize(
    ("lookup", "argument", "named"),
    [
        (attribute, "LevelControl.Brightness", 'unknown attribute "LevelControl.Brightness"'),
        (attribute, "Lighting.CurrentLevel", 'unknown cluster "Lighting" in "Lighting.CurrentLevel"'),
        (command, "OnOff.Blink", 'unknown command "OnOff.Blink"'),
        (command, "Switch.Press", 'unknown command "Switch.Press"'),
        (command, "Dimmer.On", 'unknown cluster "Dimmer" in "Dimmer.On"'),
        (event, "Switch.DoublePress", 'unknown event "Switch.DoublePress"'),
        (event, "Button.InitialPress", 'unknown cluster "Button" in "Button.InitialPress"'),
        (device_type, "Dimmable Light", 'unknown device type "Dimmable Light"'),
        (matter.cluster, "Lighting", 'unknown cluster "Lighting"'),
    ],
)
def test_unknown_names_raise_a_catalogue_error_naming_them(lookup: object, argument: str, named: str) -> None:
    assert callable(lookup)
    with pytest.raises(CatalogueError) as caught:
        lookup(argument)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith(named)


def test_an_unknown_attribute_lists_the_clusters_attributes() -> None:
    with pytest.raises(CatalogueError) as caught:
        attribute("LevelControl.Brightness")
    message = str(caught.value)
    assert "LevelControl has CurrentLevel, RemainingTime, MinLevel" in message


def test_a_near_miss_is_offered_as_the_likely_name() -> None:
    with pytest.raises(CatalogueError) as caught:
        attribute("LevelControl.currentlevel")
    assert "did you mean CurrentLevel?" in str(caught.value)
    with pytest.raises(CatalogueError) as caught:
        device_type("DimmableLite")
    assert "did you mean DimmableLight" in str(caught.value)


def test_a_cluster_without_commands_says_so() -> None:
    with pytest.raises(CatalogueError) as caught:
        command("Switch.Press")
    assert str(caught.value).endswith("Switch has none")


@pytest.mark.parametrize("path", ["LevelControl", "LevelControl.", ".CurrentLevel", "A.B.C", ""])
def test_a_path_without_one_cluster_and_one_name_is_refused(path: str) -> None:
    with pytest.raises(CatalogueError, match="is not of the form"):
        attribute(path)


# ----------------------------------------------------------------------------------------------------
# The module itself


def test_specs_cannot_be_changed() -> None:
    _, spec = attribute("OnOff.OnOff")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.maximum = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("type_", "minimum", "maximum"),
    [("uint9", None, None), ("uint8", 0, 256), ("uint8", -1, 10), ("uint8", 10, 1), ("bool", 0, 1)],
)
def test_a_spec_that_does_not_fit_its_type_is_refused(
    type_: str, minimum: int | None, maximum: int | None
) -> None:
    with pytest.raises(ValueError):
        AttributeSpec("Broken", 0x0000, type_, minimum, maximum)


@pytest.mark.parametrize(
    ("field_id", "type_", "values"),
    [
        (0x100, "uint8", ()),  # a field id is one byte
        (0, "uint8", ((0, "Off"),)),  # only an enum lists values
        (0, "enum8", ((0, "Off"), (0, "Also off"))),
        (0, "enum8", ((256, "Beyond"),)),
    ],
)
def test_a_field_row_that_cannot_be_right_is_refused(
    field_id: int, type_: str, values: tuple[tuple[int, str], ...]
) -> None:
    with pytest.raises(ValueError):
        FieldSpec("Broken", field_id, type_, None, None, values=values)


def test_fields_of_an_event_the_cluster_does_not_have_are_refused() -> None:
    field = FieldSpec("Position", 0, "uint8", None, None)
    with pytest.raises(ValueError, match="not one of its events"):
        ClusterSpec(
            "Broken", 0x0001, 1, events={"Pressed": 0}, event_fields={"Released": {"Position": field}}
        )


def test_the_module_imports_only_the_standard_library() -> None:
    heavy = ("pydantic", "boto3", "botocore", "aws_lambda_powertools")
    probe = f"import sys, iotbridge.matter; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")},
    )
    assert result.stdout.strip() == ""
