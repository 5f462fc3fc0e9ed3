import React from "react";

interface ButtonProps {
  label: string;
  variant?: "primary" | "secondary" | "ghost";
  accentColor?: string;
  disabled?: boolean;
  onClick?: () => void;
}

/** A button in three variants. */
export default function Button({ label = "Get started", variant = "primary", accentColor = "#0a84ff", disabled = false, onClick }: ButtonProps) {
  const filled = variant === "primary";
  return (
    <button
      onClick={onClick}
      disabled={disabled}
      style={{ padding: "10px 18px", borderRadius: 8, background: filled ? accentColor : "transparent" }}
    >
      {label}
    </button>
  );
}
