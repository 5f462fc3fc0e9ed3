import React from "react";
import { addPropertyControls, ControlType } from "framer";

interface ButtonProps {
  label: string;
  variant?: "primary" | "secondary" | "ghost";
  accentColor?: string;
  disabled?: boolean;
  onClick?: () => void;
}

/**
 * A button in three variants.
 * @framerSupportedLayoutWidth any
 * @framerSupportedLayoutHeight any
 */
export default function Button({ label = "Get started", variant = "primary", accentColor = "#0a84ff", disabled = false, onClick }: ButtonProps) {
  const filled = variant === "primary";
  return (
    <button
      onClick={onClick}
      disabled={disabled}
      style={{ position: "relative", padding: "10px 18px", borderRadius: 8, background: filled ? accentColor : "transparent" }}
    >
      {label}
    </button>
  );
}

addPropertyControls(Button, {
    label: { type: ControlType.String, title: "Label", defaultValue: "Get started" },
    variant: { type: ControlType.Enum, title: "Variant", options: ["primary", "secondary", "ghost"], defaultValue: "primary" },
    accentColor: { type: ControlType.Color, title: "Accent Color", defaultValue: "#0a84ff" },
    disabled: { type: ControlType.Boolean, title: "Disabled", defaultValue: false },
})
